#!/bin/sh
# Makes a throw-away PKI for the DICOM TLS tests (issue 11 part 2) in DIR:
#   ca.pem/ca.key            the test CA
#   server.pem/server.key    CN=localhost (receiver / storescp / dcmqrscp), signed by the CA
#   client.pem/client.key    CN=pacspull-client, signed by the CA
#   rogue-ca.pem, rogue.pem/rogue.key   another CA and a client it signed (not trusted)
# Usage: make_tls_certs.sh DIR
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"
days=2
key() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null; }
ca() {  # name subject
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -sha256 -days $days -subj "$2" -out "$1.pem" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
leaf() {  # name subject ca
  key "$1.key"
  openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
  printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -days $days -sha256 \
    -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
ca ca "/CN=pacspull test CA"
leaf server "/CN=localhost" ca
leaf client "/CN=pacspull-client" ca
ca rogue-ca "/CN=rogue CA"
leaf rogue "/CN=rogue-client" rogue-ca
chmod 600 ./*.key
openssl verify -CAfile ca.pem server.pem client.pem >/dev/null
echo "certificates in $dir"
