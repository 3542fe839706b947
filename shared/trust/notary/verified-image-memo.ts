// Answers already resolved from a memoised repository, so a warm verification of the same
// image under the same requirement is a few comparisons instead of a walk through the
// repository's roles.
//
// Security: an answer is only ever kept for the memo entry it was resolved from, and is
// given again only while every condition under which that resolution would run unchanged
// still holds:
// - the entry is still the memo's current one for its key (a refresh, a sign event or a
//   failed delegation load replaces or drops it, and with it every answer from it);
// - the entry is within the freshness window, exactly as for a resolution;
// - `now` is inside the range where the resolution could not fail on time: the entry's
//   own range (top-level documents and root certificates) narrowed to the expiry of every
//   delegation the resolution consulted, whether or not it signed the image.
// Denials are never kept. Answers are keyed by the requirement and image objects
// themselves (requirements come from the policy memo, references from the parse memo),
// so nothing is formatted or compared as text, and an answer goes when either object does.
import type { ImageReference } from '../../image/reference.js';
import type { NotaryRequirement, VerifiedImage } from '../verifier.js';
import type { MemoEntry, VerifiedRepositoryMemo } from './verified-repository-memo.js';

export interface MemoisedAnswer {
  readonly memoKey: string;
  readonly entry: MemoEntry;
  readonly answer: VerifiedImage;
  // Epoch milliseconds: the answer holds for validFrom <= t < validUntil.
  readonly validFrom: number;
  readonly validUntil: number;
}

export interface VerifiedImageMemo {
  // The kept answer, if it still holds at `t` with the entry confirmed at most
  // `freshnessMs` ago; undefined otherwise.
  answer(requirement: NotaryRequirement, image: ImageReference, t: number, freshnessMs: number): VerifiedImage | undefined;
  remember(requirement: NotaryRequirement, image: ImageReference, answer: MemoisedAnswer): void;
}

// What is kept per answer: the entry only weakly, so an answer never holds a repository the
// repository memo has let go (its byte bound would mean nothing otherwise); such an answer
// is simply no longer given.
interface KeptAnswer {
  readonly memoKey: string;
  readonly entry: WeakRef<MemoEntry>;
  readonly checkedAt: number;
  readonly answer: VerifiedImage;
  readonly validFrom: number;
  readonly validUntil: number;
}

export function createVerifiedImageMemo(repositories: VerifiedRepositoryMemo): VerifiedImageMemo {
  const answers = new WeakMap<NotaryRequirement, WeakMap<ImageReference, KeptAnswer>>();
  return {
    answer(requirement, image, t, freshnessMs) {
      const kept = answers.get(requirement)?.get(image);
      if (kept === undefined) return undefined;
      if (t < kept.validFrom || t >= kept.validUntil) return undefined;
      const age = t - kept.checkedAt;
      if (age < 0 || age >= freshnessMs) return undefined;
      const entry = kept.entry.deref();
      if (entry === undefined || repositories.get(kept.memoKey) !== entry) return undefined;
      return kept.answer;
    },
    remember(requirement, image, answer) {
      let byImage = answers.get(requirement);
      if (byImage === undefined) {
        byImage = new WeakMap();
        answers.set(requirement, byImage);
      }
      const { memoKey, entry, validFrom, validUntil } = answer;
      byImage.set(image, { memoKey, entry: new WeakRef(entry), checkedAt: entry.checkedAt, answer: answer.answer, validFrom, validUntil });
    },
  };
}
