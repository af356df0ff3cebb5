// One event of an activity feed in words: the actor in bold, the target marked (the message and
// its word order from the catalogue).
import { txKey } from '../i18n';
import type { Described } from '../stores/activity';

export function FeedText({ d }: { d: Described }) {
  return (
    <span class="feed-text">
      {txKey(d.key, { ...d.params, actor: <strong class="actor">{d.actor}</strong>, target: <span class="target">{d.target}</span> })}
    </span>
  );
}
