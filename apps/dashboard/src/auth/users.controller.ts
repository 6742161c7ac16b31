/** Accounts, for administrators: list, create, unlock. */
import { Body, Controller, Get, Param, ParseUUIDPipe, Post, Req, Res, UseFilters } from '@nestjs/common';
import { AppError } from '@app/platform';
import type { Response } from 'express';
import { DashboardErrorFilter, Pages } from '../pages';
import { ROLE_NAMES, ROLES } from './access';
import { AccountsService } from './accounts.service';
import type { DashboardRequest } from './session.guard';
import { Requires } from './session.guard';

@Controller('users')
@UseFilters(DashboardErrorFilter)
@Requires('manage-users')
export class UsersController {
  constructor(private readonly accounts: AccountsService, private readonly pages: Pages) {}

  @Get()
  async page(@Req() req: DashboardRequest, @Res() res: Response): Promise<void> {
    await this.show(req, res, 200);
  }

  @Post()
  async create(@Req() req: DashboardRequest, @Res() res: Response, @Body() body: Record<string, unknown>): Promise<void> {
    const input = { email: String(body?.email ?? ''), displayName: String(body?.displayName ?? ''), role: String(body?.role ?? ''), trustOds: String(body?.trustOds ?? ''), password: String(body?.password ?? '') };
    try {
      await this.accounts.create(req.session!.principal, input, req.ip ?? null);
    } catch (e) {
      if (e instanceof AppError && (req.headers.accept ?? '').includes('text/html')) {
        return this.show(req, res, e.status, (e.details as string[]) ?? [e.message], { ...input, password: '' });
      }
      throw e;
    }
    res.redirect(303, '/users');
  }

  @Post(':id/unlock')
  async unlock(@Req() req: DashboardRequest, @Res() res: Response, @Param('id', new ParseUUIDPipe()) id: string): Promise<void> {
    await this.accounts.unlock(req.session!.principal, id, req.ip ?? null);
    res.redirect(303, '/users');
  }

  private async show(req: DashboardRequest, res: Response, status: number, errors: string[] = [], form: Record<string, string> = {}): Promise<void> {
    const users = await this.accounts.list();
    this.pages.render(req, res, 'users.njk', { title: 'Accounts', users, errors, form, roles: ROLES.map((r) => ({ value: r, text: ROLE_NAMES[r] })) }, status);
  }
}
