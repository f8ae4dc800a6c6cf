/** Static credentials of one cloud account (decrypted from the account store just before use). */
export interface Ec2Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface Ec2DriverOptions {
  region: string;
  /** An EC2-compatible endpoint (`https://ec2.example.net`, or a fake in tests); default: AWS. */
  endpoint?: string;
  credentials: Ec2Credentials;
  /** TCP connect timeout; default 5 s. */
  connectTimeoutMs?: number;
  /** Socket inactivity timeout per request; default 30 s. */
  requestTimeoutMs?: number;
}
