/** The matching policy this process was configured with (quiet hours when none is recorded yet). */
export const POLICY = Symbol('POLICY');
