export * from './entities';
export * from './data-source';
export * from './outbox';
export * from './persistence.module';
export * from './testing';
export * from './sms';
export * from './offers';
export * from './slot-trace';
