import { describe, expect, it } from 'vitest';
import { redact, secretValues } from '../src';

describe('secrets', () => {
  it('masks a secret as given and as JSON spells it, slashes escaped or not', () => {
    const key = 'Kx7/ab9+Q"SECRET\\zz';
    const json = JSON.stringify({ k: key });
    for (const text of [`key=${key}`, json, json.replaceAll('/', '\\/')]) {
      const out = redact(text, [key]);
      expect(out).toContain('***');
      expect(out).not.toContain('SECRET');
    }
  });

  it('leaves short values alone (they would mask ordinary words) and takes only secret settings', () => {
    expect(redact('a key of abc', ['abc'])).toBe('a key of abc');
    expect(
      secretValues({ secrets: ['apiKey', 'token'] }, { apiKey: 'long-enough', user: 'bob', token: 7 }),
    ).toEqual(['long-enough']);
  });
});
