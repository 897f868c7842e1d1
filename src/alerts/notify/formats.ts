/** Every notification format: adding one is a file exporting a NotifyFormat and a line here. */
import { alertmanager } from './alertmanager.js';
import { discord } from './discord.js';
import type { NotifyFormat } from './format.js';
import { json } from './json.js';
import { mail } from './mail.js';
import { ntfy } from './ntfy.js';
import { slack } from './slack.js';
import { teams } from './teams.js';
import { telegram } from './telegram.js';

/** The formats a URL target can take (by host, `#format=NAME` or MIZUAL_ALERT_WEBHOOK_FORMAT); `mail` is for mailto: only. */
export const URL_FORMATS: readonly NotifyFormat[] = [slack, discord, teams, telegram, ntfy, alertmanager, json];
export const MAIL_FORMAT: NotifyFormat = mail;
