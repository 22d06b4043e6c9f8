"""Personal-data lakehouse: chess.com, Oura and WHOOP into Apache Iceberg.

Run `lakehouse --help` for the command-line tool.
"""

__version__ = "0.1.0"
