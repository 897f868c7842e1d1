/**
 * Microsoft Teams through a Workflows ("Post to a channel when a webhook request is received")
 * webhook: a message whose one attachment is an Adaptive Card.
 */
import { jsonPost, type NotifyFormat } from './format.js';
import { batchLines, batchTitle } from './message.js';

export const teams: NotifyFormat = {
  name: 'teams',
  // Teams refuses messages past about 28 KB.
  maxText: 20_000,
  claims: (url) => /\.webhook\.office\.com$/.test(url.hostname) || /\.logic\.azure\.com$/.test(url.hostname),
  build: (batch, target) =>
    jsonPost(target, {
      type: 'message',
      attachments: [
        {
          contentType: 'application/vnd.microsoft.card.adaptive',
          contentUrl: null,
          content: {
            $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
            type: 'AdaptiveCard',
            version: '1.4',
            body: [
              { type: 'TextBlock', text: batchTitle(batch), weight: 'Bolder', size: 'Medium', wrap: true },
              ...batchLines(batch).map((text) => ({ type: 'TextBlock', text, wrap: true })),
            ],
          },
        },
      ],
    }),
};
