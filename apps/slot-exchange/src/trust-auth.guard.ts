/**
 * Adapters authenticate with their own trust's token, and a token acts on its own trust only:
 * any `/v1/trusts/:ods/...` route whose `:ods` is another trust is refused (DESIGN.md invariant
 * "a trust's credentials act on that trust's data only").
 */
import { CanActivate, ExecutionContext, ForbiddenException, Injectable, UnauthorizedException } from '@nestjs/common';
import { sandboxExchangeToken } from '@app/contracts';
import { IcsDirectory, bearerToken, parseKeyValueList, principalForToken } from '@app/platform';
import { ExchangeConfig } from './config';

@Injectable()
export class TrustTokenGuard implements CanActivate {
  private readonly tokens: Record<string, string>;

  constructor(config: ExchangeConfig, ics: IcsDirectory) {
    const configured = parseKeyValueList(config.EXCHANGE_TOKENS);
    if (config.NODE_ENV === 'production') {
      const missing = ics.trusts.filter((t) => !configured[t.ods]).map((t) => t.ods);
      if (missing.length) throw new Error(`EXCHANGE_TOKENS has no token for ${missing.join(', ')}`);
      this.tokens = configured;
    } else {
      this.tokens = { ...Object.fromEntries(ics.trusts.map((t) => [t.ods, sandboxExchangeToken(t.ods)])), ...configured };
    }
  }

  canActivate(ctx: ExecutionContext): boolean {
    const req = ctx.switchToHttp().getRequest<{ headers: Record<string, string | undefined>; params: Record<string, string>; trustOds?: string }>();
    const principal = principalForToken(this.tokens, bearerToken(req.headers['authorization']));
    if (!principal) throw new UnauthorizedException({ error: 'unauthorized', message: 'A valid adapter token is required' });
    if (req.params.ods !== principal) {
      throw new ForbiddenException({ error: 'forbidden', message: `This token acts for ${principal} only, not ${req.params.ods}` });
    }
    req.trustOds = principal;
    return true;
  }
}
