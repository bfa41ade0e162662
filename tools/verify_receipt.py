#!/usr/bin/env python3
"""Verify partner-export disclosure receipts with nothing but the log's verifier key.

    partner-export disclosures 42 --proof --json > receipts.json
    python3 tools/verify_receipt.py --key 'example.com+1a2b3c4d+AQ…' receipts.json

For each entry: the checkpoint's Ed25519 signature (C2SP signed note), the leaf hash, and the
RFC 9162 inclusion proof up to the checkpoint's root. Independent of partner-export's code: hashlib
and the `cryptography` package only. Every field a receipt shows that its leaf holds must be the
leaf's; `purpose`, `confirmed` and `earlier_holder`, which the log does not hold, are named as not covered. Exit 0
when every entry has a receipt that verifies, 1 otherwise (an empty list included), 2 on input that
is not a list of receipts.
"""
import argparse
import base64
import binascii
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def parse_verifier(text):
    name, key_id, key = text.strip().split("+", 2)
    raw = base64.b64decode(key)
    if len(raw) != 33 or raw[0] != 1:
        raise ValueError("not an Ed25519 verifier key")
    expected = hashlib.sha256(name.encode() + b"\n\x01" + raw[1:]).digest()[:4]
    if expected.hex() != key_id:
        raise ValueError("the verifier key's id does not match its key")
    return name, expected, Ed25519PublicKey.from_public_bytes(raw[1:])


def verify_checkpoint(note, verifier):
    """The checkpoint's (origin, size, root) when the verifier's key signed it."""
    name, key_id, public_key = verifier
    text, _, signatures = note.rstrip("\n").rpartition("\n\n")
    text += "\n"
    named = False
    for line in signatures.split("\n"):
        if not line.startswith("\u2014 "):
            raise ValueError("a signature line does not start with an em dash")
        signer, _, blob = line[2:].partition(" ")
        try:
            raw = base64.b64decode(blob, validate=True)
        except ValueError:
            continue  # another signer's line we cannot read is not ours
        if signer != name or len(raw) != 68 or raw[:4] != key_id:
            continue
        named = True
        try:
            public_key.verify(raw[4:], text.encode())
        except InvalidSignature:
            continue  # another signature with the same id may still be the right one
        origin, size, root = text.split("\n")[:3]
        return origin, int(size), base64.b64decode(root)
    raise ValueError("the checkpoint's signature does not verify" if named else "the checkpoint is not signed by this key")


def root_from_inclusion_proof(index, size, leaf_hash, proof):
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        raise ValueError("leaf index beyond the tree")
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise ValueError("proof too long")
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("proof too short")
    return r


# Each field a receipt shows that its leaf also holds: (receipt key, leaf key). The receipt must say
# exactly what the leaf says (a deletion's consent scope and time are null in the receipt, "" in the
# leaf; a disclosed_at the ledger does not know is "" in the receipt, null in the leaf).
COVERED = (("leaf_index", "index"), ("log_index", "index"), ("kind", "kind"), ("partner", "partner"),
           ("delivery", "delivery"), ("customer_id", "customer_id"), ("fields", "fields"), ("reason", "reason"),
           ("consent_scope", "consent_scope"), ("consent_granted_at", "consent_granted_at"),
           ("disclosed_at", "disclosed_at"))
# What a receipt shows that the log does not hold: printed, never vouched for.
NOT_COVERED = ("purpose", "confirmed", "earlier_holder")


def verifier_or_exit(text):
    """The --key given, parsed; a key that is not one ends the check (exit 2)."""
    try:
        return parse_verifier(text)
    except (ValueError, binascii.Error) as error:
        print(f"--key: {error}")
        sys.exit(2)


class Malformed(Exception):
    """The input is not a list of receipts as 'disclosures ID --proof --json' writes them."""


def no_duplicate_keys(pairs):
    """A JSON object whose keys repeat reads differently in different parsers: refused."""
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise Malformed("a key appears twice in one object")
    return dict(pairs)


def same(receipt_key, claimed, logged):
    if claimed == logged and type(claimed) is type(logged):
        return True
    if receipt_key in ("consent_scope", "consent_granted_at", "disclosed_at"):
        return {claimed, logged} == {None, ""}
    return False


def check_shape(entry):
    if not isinstance(entry, dict):
        raise Malformed("an entry is not an object")
    if "leaf" not in entry:
        return
    for key, kind in (("leaf", str), ("checkpoint", str), ("root_hash", str), ("inclusion_proof", list)):
        if not isinstance(entry.get(key), kind):
            raise Malformed(f"{key} is not a {kind.__name__}")
    for key in ("leaf_index", "tree_size"):
        if not isinstance(entry.get(key), int) or isinstance(entry.get(key), bool) or entry[key] < 0:
            raise Malformed(f"{key} is not a whole number")
    if not all(isinstance(p, str) for p in entry["inclusion_proof"]):
        raise Malformed("inclusion_proof is not a list of base64 hashes")


def verify_entry(entry, verifier, customer=None):
    origin, size, root = verify_checkpoint(entry["checkpoint"], verifier)
    if origin != "partner-export/" + verifier[0]:
        raise ValueError(f"the checkpoint is of another log ({origin})")
    if size != entry["tree_size"] or base64.b64encode(root).decode() != entry["root_hash"]:
        raise ValueError("the receipt's tree is not the checkpoint's")
    leaf = base64.b64decode(entry["leaf"], validate=True)
    try:
        claims = json.loads(leaf.decode("utf-8"), object_pairs_hook=no_duplicate_keys)
    except UnicodeDecodeError:
        raise ValueError("the leaf is not UTF-8 text")
    except Malformed as error:
        raise ValueError(f"the leaf is not one log entry: {error}")
    if not isinstance(claims, dict):
        raise ValueError("the leaf is not a log entry")
    for receipt_key, leaf_key in COVERED:
        if receipt_key in entry and not same(receipt_key, entry[receipt_key], claims.get(leaf_key)):
            raise ValueError(f"the receipt's {receipt_key} is not what its leaf says")
    if customer is not None and claims.get("customer_id") != customer:
        raise ValueError(f"the leaf is about customer {claims.get('customer_id')}, not {customer}")
    leaf_hash = hashlib.sha256(b"\x00" + leaf).digest()
    proof = [base64.b64decode(p, validate=True) for p in entry["inclusion_proof"]]
    if root_from_inclusion_proof(entry["leaf_index"], size, leaf_hash, proof) != root:
        raise ValueError("the inclusion proof does not lead to the checkpoint's root")
    return origin, claims


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--key", required=True, help="the log's verifier key: name+id+base64")
    parser.add_argument("--customer", type=int, help="the customer the receipts must be about")
    parser.add_argument("receipts", help="the output of 'disclosures ID --proof --json' (- for stdin)")
    args = parser.parse_args()
    verifier = verifier_or_exit(args.key)
    try:
        with (sys.stdin if args.receipts == "-" else open(args.receipts, encoding="utf-8")) as source:
            entries = json.load(source, object_pairs_hook=no_duplicate_keys)
        if not isinstance(entries, list):
            raise Malformed("not a list of receipts")
        for entry in entries:
            check_shape(entry)
    except (OSError, ValueError, Malformed) as error:
        print(f"{args.receipts}: MALFORMED: {error}")
        sys.exit(2)
    if not entries:
        print("nothing to verify: the file holds no receipt")
        sys.exit(1)
    failed = 0
    for entry in entries:
        if "leaf" not in entry:
            print(f"entry {entry.get('log_index')}: NO RECEIPT (recorded after the newest checkpoint, or not in the log)")
            failed += 1
            continue
        try:
            origin, claims = verify_entry(entry, verifier, args.customer)
            shown = [key for key in NOT_COVERED if key in entry]
            print(f"entry {claims['index']}: verified in {origin} ({claims['kind']} of customer {claims['customer_id']} "
                  f"to {claims['partner']}, {claims['disclosed_at']})"
                  + (f"; not covered by the log: {', '.join(shown)}" if shown else ""))
        except (ValueError, KeyError, TypeError, binascii.Error) as error:
            failed += 1
            print(f"entry {entry.get('log_index')}: NOT VERIFIED: {error}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
