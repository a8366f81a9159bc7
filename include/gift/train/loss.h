// Softmax cross-entropy over rows of logits.
#pragma once

#include <string>
#include <vector>

#include "gift/core/matrix.h"
#include "gift/onn/network.h"

namespace gift {

// logits: B x C; labels: B entries in [0, C). Returns the SUM of the B losses (so
// partial sums over row blocks add up exactly); adds the number of rows whose
// argmax (lowest index on ties) equals the label to *correct if non-null; writes
// dlogits = (softmax - onehot) * scale (B x C) if non-null.
template <class T>
double softmax_xent(const MatT<T>& logits, const int* labels, MatT<T>* dlogits, T scale,
                    int* correct);

// The one check of labelled data against a network, before any work: throws InputError
// ("<what>: ...") unless `images` (N x I) is non-empty with I == arch.inputs(), `labels`
// has N entries, and every label lies in [0, arch.outputs()) (a label beyond the network's
// outputs would index past the logits).
void check_labelled_data(const Architecture& arch, const Mat& images,
                         const std::vector<int>& labels, const std::string& what);

// Index of the largest entry of each row (lowest index on ties): B entries.
template <class T>
void argmax_rows(const MatT<T>& logits, int* out);

}  // namespace gift
