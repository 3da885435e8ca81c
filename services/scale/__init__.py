"""Scaling out: the same loop steps on a Ray cluster (:mod:`cliniloop.services.scale.ray_engine`).

The default engine stays the single process; nothing here is imported unless a user asks for
``--engine ray``.
"""
