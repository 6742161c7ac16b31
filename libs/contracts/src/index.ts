export * from './queues';
export * from './sms';
export * from './sandbox';
export * from './exchange-api';
export * from './sms-content';
export * from './text';
