"""Detection: limits on distinct beneficiaries, behaviour signals, a score and a graduated
containment decision (docs/THREATS.md T2-T4, detection and containment). Pure: counts in, decision
out; the use case (services/detection.py) gathers the counts and applies the decision."""
