#!/usr/bin/env bash
# Makes a throw-away PKI for the local partner sandbox: a CA, a server certificate for localhost,
# a client certificate (mTLS), and a second, unrelated CA with a server certificate of its own (to
# prove that a server the configured CA did not sign is refused). Never committed; made at set-up.
set -euo pipefail
dir=${1:?usage: make-pki.sh DIR}
mkdir -p "$dir"
chmod 700 "$dir"
cd "$dir"
umask 077

key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1" 2>/dev/null; }

ca() {  # name subject
    key "$1.key"
    openssl req -x509 -new -key "$1.key" -sha256 -days 30 -subj "/CN=$2" -out "$1.pem" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

leaf() {  # name ca subject extensions
    key "$1.key"
    openssl req -new -key "$1.key" -subj "/CN=$3" -out "$1.csr" 2>/dev/null
    printf '%s\n' "$4" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 30 -sha256 \
        -extfile "$1.ext" -out "$1.pem" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}

ca ca "partner-export sandbox CA"
leaf server ca localhost "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature"
leaf client ca partner-export "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature"
ca other-ca "an unrelated CA"
leaf rogue-server other-ca localhost "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature"
rm -f ./*.srl
chmod 600 ./*
echo "PKI written to $dir"
