// The ES2025 Set methods (union, intersection, difference, symmetricDifference,
// isSubsetOf, isSupersetOf, isDisjointFrom) for Node 20, which lacks them and which
// gitlab-ci-local's bundle calls while it loads. Node 22 has them: there this file
// changes nothing. Load it first: node --require tests/pipeline/set-methods.cjs …
"use strict";

// The "set-like" record the proposal reads from the argument: size, has, keys.
function setLike(other) {
  if (other === null || typeof other !== "object") {
    throw new TypeError("a Set method's argument must be set-like");
  }
  const size = Number(other.size);
  if (Number.isNaN(size)) {
    throw new TypeError("a set-like's size must be a number");
  }
  if (typeof other.has !== "function" || typeof other.keys !== "function") {
    throw new TypeError("a set-like needs has() and keys()");
  }
  return {
    size,
    has: (value) => Boolean(other.has(value)),
    *keys() {
      const iterator = other.keys();
      for (let step = iterator.next(); !step.done; step = iterator.next()) {
        yield step.value;
      }
    },
  };
}

const methods = {
  union(other) {
    const that = setLike(other);
    const out = new Set(this);
    for (const value of that.keys()) out.add(value);
    return out;
  },
  intersection(other) {
    const that = setLike(other);
    const out = new Set();
    if (this.size <= that.size) {
      for (const value of this) if (that.has(value)) out.add(value);
    } else {
      for (const value of that.keys()) if (this.has(value)) out.add(value);
    }
    return out;
  },
  difference(other) {
    const that = setLike(other);
    const out = new Set(this);
    for (const value of this) if (that.has(value)) out.delete(value);
    return out;
  },
  symmetricDifference(other) {
    const that = setLike(other);
    const out = new Set(this);
    for (const value of that.keys()) {
      if (this.has(value)) out.delete(value);
      else out.add(value);
    }
    return out;
  },
  isSubsetOf(other) {
    const that = setLike(other);
    if (this.size > that.size) return false;
    for (const value of this) if (!that.has(value)) return false;
    return true;
  },
  isSupersetOf(other) {
    const that = setLike(other);
    if (this.size < that.size) return false;
    for (const value of that.keys()) if (!this.has(value)) return false;
    return true;
  },
  isDisjointFrom(other) {
    const that = setLike(other);
    for (const value of this) if (that.has(value)) return false;
    return true;
  },
};

for (const [name, method] of Object.entries(methods)) {
  if (typeof Set.prototype[name] !== "function") {
    Object.defineProperty(Set.prototype, name, {
      value: method,
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }
}
