#!/usr/bin/env python3
"""`domicile pin issue|verify|keygen` as the sign-up service would run it.

Runs the real binary (env DOMICILE_BIN): issue then verify round-trips, each failure class
with its reason code and sentence, rotation with two keys, JSON output, key-file errors,
and tokens checked against Python's own HMAC-SHA256 (an independent implementation).
"""
import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile

BIN = os.environ.get("DOMICILE_BIN")
NOW = 1800000000

failures = 0
checks = 0


def check(cond, what, detail=""):
    global failures, checks
    checks += 1
    if cond:
        print(f"ok {checks} - {what}")
    else:
        failures += 1
        print(f"not ok {checks} - {what}")
        if detail:
            for line in str(detail).splitlines():
                print(f"#   {line}")


def run(*args, stdin=None):
    p = subprocess.run([BIN, "pin", *args], input=stdin, capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


def write_keys(directory, name, text, mode=0o600):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def python_token(secret, kid, jurisdiction, expiry):
    signed = f"v1.{kid}.{jurisdiction}.{expiry}".encode()
    mac = hmac.new(secret, signed, hashlib.sha256).digest()
    return signed.decode() + "." + base64.urlsafe_b64encode(mac).decode().rstrip("=")


def issue(keys, jurisdiction, *extra):
    rc, out, err = run("issue", "--keys", keys, "--jurisdiction", jurisdiction, *extra)
    check(rc == 0, f"issue {jurisdiction} {' '.join(extra)} exits 0", err)
    return out.strip()


def verify(keys, token, *extra):
    return run("verify", "--keys", keys, "--now", str(NOW), *extra, token)


def verify_json(keys, token, *extra):
    rc, out, err = verify(keys, token, "--json", *extra)
    try:
        return rc, json.loads(out), err
    except ValueError as e:
        check(False, "verify --json prints one JSON object", f"{e}\nstdout: {out!r}\nstderr: {err!r}")
        return rc, {}, err


def main():
    if not BIN or not os.access(BIN, os.X_OK):
        print(f"Bail out! DOMICILE_BIN is not an executable: {BIN!r}")
        return 1
    tmp = tempfile.TemporaryDirectory(prefix="dom-pin-cli-")
    d = tmp.name

    old_secret = bytes(range(32))
    new_secret = os.urandom(32)
    old_only = write_keys(d, "old", f"# pin keys\nk2025 {old_secret.hex()}\n")
    both = write_keys(d, "both", f"k2026 {base64.b64encode(new_secret).decode()}\nk2025 {old_secret.hex()}\n")
    new_only = write_keys(d, "new", f"k2026 {base64.urlsafe_b64encode(new_secret).decode().rstrip('=')}\n")

    # Round trip, and the exact bytes Python's HMAC computes.
    token = issue(old_only, "EU-GDPR", "--expires", str(NOW + 3600))
    check(token == python_token(old_secret, "k2025", "EU-GDPR", NOW + 3600), "issued token matches Python's HMAC",
          token)
    rc, out, err = verify(old_only, token)
    check(rc == 0, "verify of a fresh pin exits 0", out + err)
    first = out.splitlines()[0] if out else ""
    check(first.startswith("pin_valid: "), "text output starts with the reason code", out)
    check("jurisdiction: EU-GDPR" in out and "kid: k2025" in out and f"expiry: {NOW + 3600}" in out,
          "text output names jurisdiction, kid and expiry", out)

    rc, result, err = verify_json(old_only, token)
    check(rc == 0 and result.get("valid") is True and result.get("reason") == "pin_valid",
          "JSON: valid", result)
    check(result.get("jurisdiction") == "EU-GDPR" and result.get("kid") == "k2025" and
          result.get("expiry") == NOW + 3600 and result.get("now") == NOW, "JSON: fields", result)

    # --ttl counts from --now; token from standard input ("-"), with its newline.
    token_ttl = issue(old_only, "US-CA", "--ttl", "60", "--now", str(NOW))
    check(token_ttl.startswith(f"v1.k2025.US-CA.{NOW + 60}."), "--ttl is relative to --now", token_ttl)
    rc, out, err = run("verify", "--keys", old_only, "--now", str(NOW), "-", stdin=token_ttl + "\n")
    check(rc == 0 and out.startswith("pin_valid: "), "verify reads the token from stdin", out + err)
    rc, out, err = run("verify", "--keys", old_only, "--now", str(NOW), "-", stdin=token_ttl + "\r\n")
    check(rc == 0, "stdin token may end in CRLF", out + err)
    rc, out, err = run("verify", "--keys", old_only, "--now", str(NOW), "-", stdin=token_ttl + "\n\n")
    check(rc == 1 and out.startswith("pin_malformed: "), "stdin with more than one line is malformed", out + err)

    # --now and --expires take dates too (the one date/time parser): unix seconds, YYYY-MM-DD, or
    # YYYY-MM-DDTHH:MM:SSZ, all UTC; a date that does not exist is refused, never moved to the next month.
    dated = issue(old_only, "EU-GDPR", "--expires", "2027-01-15T08:00:00Z")
    check(dated.startswith("v1.k2025.EU-GDPR.1800000000."), "--expires 2027-01-15T08:00:00Z is 1800000000", dated)
    rc, out, err = run("verify", "--keys", old_only, "--now", "2027-01-15", dated)
    check(rc == 0 and "28800 s from now" in out, "verify --now 2027-01-15 (00:00 UTC)", out + err)
    rc, out, err = run("verify", "--keys", old_only, "--now", "2027-01-15T08:00:00Z", dated)
    check(rc == 1 and out.startswith("pin_expired: "), "verify --now at the expiry: expired", out + err)
    ttl_dated = issue(old_only, "EU-GDPR", "--ttl", "60", "--now", "2027-01-15")
    check(ttl_dated.startswith(f"v1.k2025.EU-GDPR.{NOW - 28800 + 60}."), "--ttl counts from a dated --now",
          ttl_dated)
    for bad in ("2027-02-29", "2027-01-15T24:00:00Z", "2027-01-15T08:00:00", "tomorrow", "-5"):
        rc, out, err = run("verify", "--keys", old_only, "--now", bad, dated)
        check(rc == 2 and "is not a time" in err, f"verify --now {bad}: exit 2", err)
    rc, out, err = run("issue", "--keys", old_only, "--jurisdiction", "EU", "--expires", "2026-04-31")
    check(rc == 2 and "is not a time" in err, "issue --expires 2026-04-31 (no such day): exit 2", err)

    # Each failure class: exit 1, its own reason code and sentence.
    expired = issue(old_only, "EU-GDPR", "--expires", str(NOW))
    forged = token.replace(".EU-GDPR.", ".US-CCPA.")
    unknown = token.replace("v1.k2025.", "v1.k1999.")
    cases = [
        ("malformed", token[:-1], "pin_malformed", "malformed"),
        ("unknown key", unknown, "pin_unknown_key", 'key "k1999"'),
        ("bad signature", forged, "pin_bad_signature", "altered or forged"),
        ("expired (now == expiry)", expired, "pin_expired", "expired at"),
    ]
    sentences = set()
    for name, tok, reason, phrase in cases:
        rc, out, err = verify(old_only, tok)
        check(rc == 1, f"{name}: exit 1", out + err)
        check(out.startswith(reason + ": ") and phrase in out, f"{name}: text says {reason}", out + err)
        sentences.add(out.splitlines()[0] if out else "")
        rc, result, err = verify_json(old_only, tok)
        check(rc == 1 and result.get("valid") is False and result.get("reason") == reason,
              f"{name}: JSON reason {reason}", result)
    check(len(sentences) == len(cases), "each failure class has its own sentence", "\n".join(sentences))

    # Only a genuine pin's jurisdiction is reported; a forged one's claim is not.
    rc, result, _ = verify_json(old_only, forged)
    check(result.get("jurisdiction") is None and result.get("kid") == "k2025", "forged pin: claim not reported",
          result)
    rc, result, _ = verify_json(old_only, expired)
    check(result.get("jurisdiction") == "EU-GDPR" and result.get("expiry") == NOW, "expired pin: fields reported",
          result)
    rc, result, _ = verify_json(old_only, "v1.k2025.EU.1.x")
    check(result.get("kid") is None and "signature" in result.get("message", ""),
          "malformed: JSON says which part is wrong", result)
    rc, out, err = verify(old_only, expired, "--now", str(NOW - 1))
    check(rc == 0, "one second before expiry the pin is valid", out + err)

    # Rotation: old pins verify while both keys are loaded; the new key mints; retiring the old key
    # turns its pins into pin_unknown_key, not pin_bad_signature.
    rc, out, err = verify(both, token)
    check(rc == 0, "rotation: old pin verifies with both keys loaded", out + err)
    new_token = issue(both, "EU-GDPR", "--expires", str(NOW + 3600))
    check(new_token.startswith("v1.k2026."), "rotation: issue signs with the first key", new_token)
    check(new_token == python_token(new_secret, "k2026", "EU-GDPR", NOW + 3600), "rotation: base64 key decoded",
          new_token)
    rc, out, err = verify(both, new_token)
    check(rc == 0, "rotation: new pin verifies with both keys loaded", out + err)
    pinned = issue(both, "EU-GDPR", "--kid", "k2025", "--expires", str(NOW + 3600))
    check(pinned == token, "--kid picks the signing key", pinned)
    rc, result, _ = verify_json(new_only, token)
    check(rc == 1 and result.get("reason") == "pin_unknown_key", "rotation: old pin unknown once its key is retired",
          result)
    rc, out, err = verify(new_only, new_token)
    check(rc == 0, "rotation: new pin verifies with only the new key (url-safe base64)", out + err)

    # Issue refusals (exit 1) and usage errors (exit 2).
    rc, out, err = run("issue", "--keys", both, "--kid", "k1999", "--jurisdiction", "EU", "--ttl", "5")
    check(rc == 1 and 'no key "k1999"' in err and out == "", "issue with an unknown kid: exit 1", out + err)
    rc, out, err = run("issue", "--keys", both, "--jurisdiction", "EU GDPR", "--ttl", "5")
    check(rc == 1 and "jurisdiction" in err and out == "", "issue with a bad jurisdiction: exit 1", out + err)
    rc, out, err = run("issue", "--keys", both, "--jurisdiction", "EU")
    check(rc == 2 and "--ttl" in err, "issue without --ttl/--expires: exit 2", err)
    rc, out, err = run("issue", "--keys", both, "--jurisdiction", "EU", "--ttl", "5", "--expires", "9")
    check(rc == 2, "issue with both --ttl and --expires: exit 2", err)
    rc, out, err = run("issue", "--keys", both, "--jurisdiction", "EU", "--ttl", "-5")
    check(rc == 2 and "--ttl" in err, "issue with a negative ttl: exit 2", err)
    rc, out, err = run("issue", "--keys", both, "--jurisdiction", "EU", "--expires", "1000000000000")
    check(rc == 2, "issue with a 13-digit expiry: exit 2", err)
    rc, out, err = run("verify", "--keys", both)
    check(rc == 2 and "no token" in err, "verify without a token: exit 2", err)
    rc, out, err = run("verify", "--keys", both, "--frobnicate", token)
    check(rc == 2 and "unknown option" in err, "unknown option: exit 2", err)
    rc, out, err = run("rotate")
    check(rc == 2 and "unknown command" in err, "unknown pin command: exit 2", err)
    for sub in ("issue", "verify", "keygen"):
        rc, out, err = run(sub, "--help")
        check(rc == 0 and out.startswith(f"usage: domicile pin {sub}"), f"{sub} --help", out + err)

    # Key files: errors as file:line: message (exit 2); a world-readable file only warns.
    dup = write_keys(d, "dup", f"a {old_secret.hex()}\nb {old_secret.hex()}\na {new_secret.hex()}\n")
    rc, out, err = verify(dup, token)
    check(rc == 2 and f"{dup}:3: duplicate key id \"a\" (first on line 1)" in err, "duplicate kid: file:line", err)
    short = write_keys(d, "short", "\nk1 00112233\n")
    rc, out, err = verify(short, token)
    check(rc == 2 and f"{short}:2: " in err and "4 bytes" in err, "short secret: file:line", err)
    rc, out, err = verify(os.path.join(d, "missing"), token)
    check(rc == 2 and "No such file" in err, "missing key file: exit 2", err)
    loose = write_keys(d, "loose", f"k2025 {old_secret.hex()}\n", mode=0o644)
    rc, out, err = verify(loose, token)
    check(rc == 0 and "warning" in err and "chmod 600" in err, "world-readable key file: warning only", err)
    rc, out, err = verify(old_only, token)
    check("warning" not in err, "mode 0600 key file: no warning", err)
    # Writable by other users: they could replace the keys and mint pins, so the file is refused.
    for mode in (0o666, 0o660):
        os.chmod(loose, mode)
        rc, out, err = verify(loose, token)
        check(rc == 2 and f"pin keys {loose}: mode {mode:04o} lets" in err and "chmod 600" in err and not out,
              f"key file of mode {mode:04o}: refused (exit 2), naming the file and the mode", err)

    # keygen: a key line the key file accepts, fresh each time.
    rc, out, err = run("keygen", "--kid", "k2027")
    parts = out.split()
    check(rc == 0 and len(parts) == 2 and parts[0] == "k2027" and len(parts[1]) == 64, "keygen prints a key line", out)
    rc2, out2, _ = run("keygen", "--kid", "k2027")
    check(out2 != out, "keygen draws a new secret each time")
    generated = write_keys(d, "generated", out)
    minted = issue(generated, "EU-GDPR", "--ttl", "60")
    rc, out, err = run("verify", "--keys", generated, minted)
    check(rc == 0, "a keygen key mints and verifies", out + err)
    rc, out, err = run("keygen", "--kid", "bad kid")
    check(rc == 2, "keygen refuses a bad kid", err)

    print(f"1..{checks}")
    print(f"{checks - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
