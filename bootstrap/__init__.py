"""The CI's way into a new AWS account: a second, small Pulumi program (project ``infra-bootstrap``, stack
``ci``) creating the GitHub OIDC provider and the roles the workflows assume. Run once per account, by a
person with administrator rights, before the first workflow: `infra bootstrap plan`, `infra bootstrap up`."""
