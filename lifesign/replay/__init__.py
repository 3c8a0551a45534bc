"""Replay a synthetic city day by day through the daily run, and score the decisions.

`release` plans when each feed file reaches the drop folder, `runner` drives the days,
`people` plays the recipients and community workers from the ground truth, `score` compares
the decisions with that truth, `report` sums up a replay for the demo.
"""
