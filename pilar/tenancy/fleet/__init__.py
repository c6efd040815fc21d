"""Fleet operations: work on whole tenants, run by the platform API and the CLI.

Provisioning and dropping, migrations, ``doctor``, moves between nodes, export
and import. Requests of a tenant never come here: they need only
``pilar.tenancy`` itself (routing and binding), which never imports this
package.
"""
