"""Label Studio connector: labelling configs, JSON conversion, an API client and a local server.

Modules
-------
config
    Label configs (XML) built from label schemas, and the tag names results refer to.
convert
    Regions, predictions and annotations to and from Label Studio JSON.
client
    :class:`~cliniloop.connectors.label_studio.client.LabelStudioClient` over ``label_studio_sdk``.
server
    :class:`~cliniloop.connectors.label_studio.server.LocalLabelStudio`: start/stop a local server.

Only ``label_studio_sdk`` is imported; Label Studio's server code runs in its own environment.
"""
