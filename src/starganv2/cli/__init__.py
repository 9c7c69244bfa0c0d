"""The console scripts. Importing the package registers the config resolvers they share."""

from starganv2.cli.job_names import register_resolvers

register_resolvers()
