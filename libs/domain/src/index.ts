/**
 * `@app/domain`: the pure rules of the ICS Slot Exchange. No I/O, no framework, no wall clock.
 */
export * from './errors';
export * from './clock';
export * from './dates';
export * from './time-zone';
export * from './nhs-number';
export * from './mobile';
export * from './postcode';
export * from './geo';
export * from './priority';
export * from './appointment-type';
export * from './tfc';
export * from './policy';
export * from './notice';
export * from './waiting-list';
export * from './slot';
export * from './eligibility';
export * from './ranking';
export * from './offer';
export * from './batch-waves';
export * from './acceptance';
export * from './match-step';
export * from './reply';
export * from './ptl';
export * from './text';
export * from './preferences';
