#!/usr/bin/env python3
"""Check that one partner-export checkpoint extends another, with nothing but the log's verifier key.

    partner-export audit consistency partners-copy.txt > proof.json
    python3 tools/verify_consistency.py --key 'example.com+1a2b3c4d+AQ…' proof.json

Both checkpoints' Ed25519 signatures (C2SP signed notes, this log's origin), then the RFC 9162
section 2.1.4.2 consistency proof from the older tree to the newer. Independent of partner-export's
code: hashlib and the `cryptography` package only (the signature check is verify_receipt.py's).
Exit 0 when the newer checkpoint extends the older, 1 when it does not, 2 on malformed input.
"""
import argparse
import base64
import binascii
import hashlib
import json
import sys

from verify_receipt import verifier_or_exit, verify_checkpoint


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_consistency(old_size, old_root, new_size, new_root, proof):
    """RFC 9162 section 2.1.4.2; every tree extends the empty one."""
    if old_size > new_size:
        raise ValueError("the older checkpoint covers more entries than the newer")
    if old_size == new_size:
        if proof:
            raise ValueError("a proof between trees of one size must be empty")
        if old_root != new_root:
            raise ValueError("two different roots for the same number of entries: a fork")
        return
    if old_size == 0:
        if proof:
            raise ValueError("a proof from the empty tree must be empty")
        return
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    if not path:
        raise ValueError("the proof is empty")
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ValueError("the proof is too long")
        if fn & 1 or fn == sn:
            fr = node(c, fr)
            sr = node(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("the proof is too short")
    if fr != old_root:
        raise ValueError("the proof does not lead to the older checkpoint's root: the newer log does not extend it")
    if sr != new_root:
        raise ValueError("the proof does not lead to the newer checkpoint's root")


def no_duplicate_keys(pairs):
    """A JSON object whose keys repeat reads differently in different parsers: refused."""
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("a key appears twice in one object")
    return dict(pairs)


def checked_end(document, name, verifier):
    """(size, root) of one end, after checking its signature, origin and that its figures are the note's."""
    end = document[name]
    if not isinstance(end, dict) or not isinstance(end.get("checkpoint"), str):
        raise TypeError(f"'{name}' is not an object with a checkpoint note")
    origin, size, root = verify_checkpoint(end["checkpoint"], verifier)
    if origin != "partner-export/" + verifier[0]:
        raise ValueError(f"the {name} checkpoint is of another log ({origin})")
    if end.get("tree_size") != size or end.get("root_hash") != base64.b64encode(root).decode():
        raise ValueError(f"the {name} tree_size or root_hash is not what its signed checkpoint says")
    return size, root


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--key", required=True, help="the log's verifier key: name+id+base64")
    parser.add_argument("proof", help="the output of 'audit consistency OLD [NEW]' (- for stdin)")
    args = parser.parse_args()
    verifier = verifier_or_exit(args.key)
    try:
        with (sys.stdin if args.proof == "-" else open(args.proof, encoding="utf-8")) as source:
            document = json.load(source, object_pairs_hook=no_duplicate_keys)
        if not isinstance(document, dict) or not isinstance(document.get("consistency_proof"), list):
            raise TypeError("not a consistency proof (an object with old, new and consistency_proof)")
        proof = [base64.b64decode(p, validate=True) for p in document["consistency_proof"]]
        if any(len(p) != 32 for p in proof):
            raise TypeError("a proof hash is not 32 bytes")
    except (OSError, ValueError, TypeError, binascii.Error) as error:
        print(f"{args.proof}: MALFORMED: {error}")
        sys.exit(2)
    try:
        old_size, old_root = checked_end(document, "old", verifier)
        new_size, new_root = checked_end(document, "new", verifier)
    except (KeyError, TypeError) as error:
        print(f"{args.proof}: MALFORMED: {error}")
        sys.exit(2)
    except ValueError as error:
        print(f"NOT CONSISTENT: {error}")
        sys.exit(1)
    try:
        verify_consistency(old_size, old_root, new_size, new_root, proof)
    except ValueError as error:
        print(f"NOT CONSISTENT: {error}")
        sys.exit(1)
    print(f"consistent: the checkpoint of {new_size} entries extends the one of {old_size} entries "
          f"(partner-export/{verifier[0]})")
    sys.exit(0)


if __name__ == "__main__":
    main()
