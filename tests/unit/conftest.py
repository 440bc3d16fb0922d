"""Make the stand-in agent importable for its unit tests."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
STANDIN_DIR = os.path.join(HERE, "..", "images", "standin")
sys.path.insert(0, os.path.abspath(STANDIN_DIR))
