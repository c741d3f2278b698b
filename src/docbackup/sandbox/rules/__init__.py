"""AWS's authorization rules in the sandbox: who may do what, evaluated as AWS does.

`policy` evaluates IAM, bucket and key policies; `actions` names the permissions a request
needs; `gateway` puts both in front of moto's server; `actors` gives each of the stack's
actors credentials that carry exactly its policies.
"""
