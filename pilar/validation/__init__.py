"""What every way in (API, data browser, command line) accepts, checked in one place."""
