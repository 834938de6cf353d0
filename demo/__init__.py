"""The demo: ``manage.py demo`` (``scripts/demo.sh``) starts the simulator, the admin, workers and sweepers and
plays the story in ``demo.story`` (top layer: may use every app below it)."""
