# sr stage (rules added by its issue).


def sr_targets():
    return []
