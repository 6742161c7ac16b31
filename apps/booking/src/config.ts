import { PolicyConfig } from '@app/platform';

export class BookingConfig extends PolicyConfig {
  override SERVICE_NAME = 'booking';
  override PORT = 3003;
}
