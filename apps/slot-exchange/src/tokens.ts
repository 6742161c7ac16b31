/** Injection token for the matching policy in force. */
export const POLICY = Symbol('POLICY');
