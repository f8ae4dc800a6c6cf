// Keys and checks shared by the TLS settings of mq.cfg, worker.properties and persistence.properties.
import { optionalPath } from './formats';

/** A client certificate without its key is a mistake the loader names. */
export function certNeedsKey(prefix: string, tls: { cert: string; key: string }): Array<[string, string]> {
  return tls.cert !== '' && tls.key === '' ? [[`${prefix}.key`, `must be set when ${prefix}.cert is set`]] : [];
}

/** Client CA, certificate and key keys (`db.ssl.*`, `redis.tls.*`), each checked at start. */
export function tlsFileKeys(what: string) {
  return {
    ca: {
      doc: `CA certificate(s) (PEM) that signed the ${what} server's certificate; empty = system CAs. Must exist, parse and be valid at start.`,
      format: optionalPath,
      default: '',
    },
    cert: {
      doc: `Client certificate (PEM) presented to ${what}. Must exist, parse and be valid at start.`,
      format: optionalPath,
      default: '',
    },
    key: {
      doc: `Client private key (PEM, unencrypted) of the certificate. Must exist, parse and match the certificate at start.`,
      format: optionalPath,
      default: '',
    },
  };
}
