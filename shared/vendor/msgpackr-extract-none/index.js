// msgpackr treats a falsy extractor as 'no native module' and decodes in JS.
module.exports = null;
