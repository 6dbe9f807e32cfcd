"""The A/B gate's own defaults (`visionbench ab`): how long a block's pairs run, how many
blocks at most, how many instruction counts. Its tolerances and alpha are everyone's, in
`visionbench.stats.defaults`.
"""

#: The timing lane: a block's round-pairs per benchmark aim at about ROUNDS_SECONDS of its
#: pairs, MIN_ROUNDS to MAX_ROUNDS of them (a 10 ms step: 40 round-pairs; a 370 ms one: 6).
#: Blocks are the samples; round-pairs only steady a block's median, so a long unit needs few
#: of them.
ROUNDS_SECONDS = 2.0
MIN_ROUNDS = 6
MAX_ROUNDS = 40
MAX_UNIT_SECONDS = {"time": 60.0, "instructions": 5.0}  # longer units are not in the lane
MAX_BLOCKS = 64  # default --max-blocks
INSTRUCTION_REPEATS = 3  # counts per unit and side (the lane compares their medians)
