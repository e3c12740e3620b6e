"""Reference clients for the four providers (``*_client.py``), each passing
``mockserver.testing.check_client``, and one deliberately naive client per provider
(``naive_*.py``) that it rejects.  See examples/README.md."""
