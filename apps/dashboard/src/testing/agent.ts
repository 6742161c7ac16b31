/** A tiny cookie-keeping HTTP client for the dashboard's tests: signs in like a browser would. */
export interface Reply { status: number; text: string; headers: Headers; json?: any }

export class Agent {
  readonly cookies = new Map<string, string>();
  csrf = '';

  constructor(readonly base: string) {}

  private keep(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      if (value === '' || /Expires=Thu, 01 Jan 1970/i.test(c)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  private cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async request(method: string, path: string, opts: { form?: Record<string, string>; html?: boolean; headers?: Record<string, string> } = {}): Promise<Reply> {
    const res = await fetch(this.base + path, {
      method,
      redirect: 'manual',
      headers: {
        cookie: this.cookieHeader(),
        accept: opts.html === false ? 'application/json' : 'text/html',
        ...(opts.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        ...(opts.headers ?? {}),
      },
      body: opts.form ? new URLSearchParams(opts.form).toString() : undefined,
    });
    this.keep(res);
    const text = await res.text();
    let json: unknown;
    try { json = JSON.parse(text); } catch { json = undefined; }
    const csrf = /name="_csrf" value="([^"]+)"/.exec(text)?.[1];
    if (csrf) this.csrf = csrf;
    return { status: res.status, text, headers: res.headers, json };
  }

  get(path: string, html = true): Promise<Reply> {
    return this.request('GET', path, { html });
  }

  /** A form post carrying the CSRF token last seen on a page. */
  post(path: string, form: Record<string, string> = {}, withCsrf = true): Promise<Reply> {
    return this.request('POST', path, { form: withCsrf ? { _csrf: this.csrf, ...form } : form });
  }

  async signIn(email: string, password: string): Promise<Reply> {
    await this.get('/sign-in');
    return this.post('/sign-in', { email, password, next: '/' });
  }
}
