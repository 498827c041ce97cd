"""Errors of ``deblurnet``."""


class DeblurnetError(Exception):
    """Bad input to deblurnet (a missing dataset, unknown model, unreadable weights...)."""
