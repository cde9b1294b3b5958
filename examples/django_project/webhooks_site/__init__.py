"""The example Django project that receives all five providers at ``/webhooks/<provider>``."""
