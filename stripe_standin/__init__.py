"""A local stand-in for the parts of the Stripe API Modelbay uses.

The real `stripe` SDK talks to it over HTTP; see standin.py for the Python API and
__main__.py for the command line. No Django, no third-party packages.
"""

from .standin import StripeStandin
from .webhooks import sign

__all__ = ["StripeStandin", "sign"]
