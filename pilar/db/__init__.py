"""Database plumbing: extension instances, the pool's idle check, the embedded server.

Nothing here knows tenants; ``pilar.tenancy`` binds them on top.
"""
