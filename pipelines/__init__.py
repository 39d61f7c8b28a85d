"""Chains of radarkit stages (installed as :mod:`radarkit.pipelines`).

Now: :mod:`radarkit.pipelines.demo`, the simulate -> write -> cube -> check chain behind
``radarkit demo``.
"""
