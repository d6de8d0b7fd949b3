"""The MathEquiv loop: harvest sibling pairs, label them, train and evaluate detectors.

The runtime detectors live in `equivpruner.equiv`; this package is how they are made.
"""
