"""Database plumbing: extensions, the pool's idle check, the embedded server, COPY.

Nothing here knows tenants; ``pilar.tenancy`` binds them on top.
"""
