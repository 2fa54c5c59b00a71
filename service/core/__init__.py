"""What every feature shares: settings, dependencies, errors and their one wire form, middleware, metrics, logging,
the OpenAPI contract, the device worker, and the wire codecs of images and masks."""
