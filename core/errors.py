"""Errors a user can cause and fix. Each carries one clear sentence for the user."""


class InputError(ValueError):
    """Bad input from a user: a file, a folder or a parameter. The message is shown as is."""


class MediaError(InputError):
    """An image or video that cannot be decoded safely."""


class FaceError(InputError):
    """No usable face in a picture."""


class DatasetError(InputError):
    """A dataset folder or file that does not match the layout it was said to have."""
