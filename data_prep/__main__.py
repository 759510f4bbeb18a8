"""``python -m data_prep CORPUS CORPUS_DIR OUTPUT_DIR``: write JSON Lines manifests for a corpus."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from asr.errors import AsrError
from data_prep import an4, commonvoice, fsdd, generic, hd_digits, librispeech, ljspeech, timit, yesno
from data_prep.an4 import prepare_an4
from data_prep.commonvoice import prepare_commonvoice
from data_prep.fsdd import prepare_fsdd
from data_prep.generic import prepare_folder, prepare_table
from data_prep.hd_digits import prepare_hd_digits
from data_prep.librispeech import prepare_librispeech
from data_prep.ljspeech import prepare_ljspeech
from data_prep.speechocean762 import LAYOUT as SPEECHOCEAN762_LAYOUT
from data_prep.speechocean762 import prepare_speechocean762
from data_prep.timit import prepare_timit
from data_prep.yesno import prepare_yesno

CONVERTERS = {
    "librispeech": (prepare_librispeech, librispeech.LAYOUT),
    "commonvoice": (prepare_commonvoice, commonvoice.LAYOUT),
    "ljspeech": (prepare_ljspeech, ljspeech.LAYOUT),
    "timit": (prepare_timit, timit.LAYOUT),
    "fsdd": (prepare_fsdd, fsdd.LAYOUT),
    "hd_digits": (prepare_hd_digits, hd_digits.LAYOUT),
    "an4": (prepare_an4, an4.LAYOUT),
    "yesno": (prepare_yesno, yesno.LAYOUT),
    "speechocean762": (prepare_speechocean762, SPEECHOCEAN762_LAYOUT),
    "folder": (prepare_folder, generic.FOLDER_LAYOUT),
    "table": (prepare_table, generic.TABLE_LAYOUT),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m data_prep",
        description="Convert a corpus to JSON Lines manifests (one per split) plus skipped.tsv.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="corpora:\n" + "\n".join(f"  {name:12s} {doc}" for name, (_, doc) in CONVERTERS.items()),
    )
    parser.add_argument("corpus", choices=sorted(CONVERTERS), help="corpus layout")
    parser.add_argument("corpus_dir", help="corpus root folder (for 'table': the CSV/TSV file)")
    parser.add_argument("output_dir", help="folder for SPLIT.jsonl manifests and skipped.tsv")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        CONVERTERS[args.corpus][0](args.corpus_dir, args.output_dir)
    except AsrError as error:
        print(f"data_prep: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
