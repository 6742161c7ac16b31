import { NotifyCircuit } from './notify-circuit';

describe('NotifyCircuit', () => {
  it('opens after the threshold of service failures in a row, and stays open until Notify accepts a message', () => {
    const circuit = new NotifyCircuit(3);
    expect([circuit.failed(), circuit.failed()]).toEqual([false, false]);
    expect(circuit.failed()).toBe(true);
    expect(circuit.failed()).toBe(true);
    circuit.accepted();
    expect(circuit.isOpen).toBe(false);
    expect(circuit.failed()).toBe(false);
  });

  it('never opens for one message that fails while Notify accepts the others', () => {
    const circuit = new NotifyCircuit(2);
    for (let i = 0; i < 10; i++) {
      expect(circuit.failed()).toBe(false);
      circuit.accepted();
    }
  });

  it('refuses a threshold that is not a whole number of failures', () => {
    expect(() => new NotifyCircuit(0)).toThrow(/at least 1/);
    expect(() => new NotifyCircuit(1.5)).toThrow(/whole number/);
  });
});
