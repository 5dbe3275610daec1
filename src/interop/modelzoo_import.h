// Imports the directory layout of the public "Model Zoos" dataset (Schürholt et al. 2022) into
// zoo members: one folder per trained model with params.json, result.json (one JSON object per
// epoch) and checkpoint_NNNNNN/checkpoints (a torch.save'd state_dict per kept epoch).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/store.h"

namespace hyperrep::interop {

struct ImportedZoo {
  store::ZooHeader header;
  std::vector<store::MemberRecord> members;
};

// Numeric and categorical properties of imported members, in column order.
const std::vector<std::string>& modelzoo_numeric_properties();
const std::vector<std::string>& modelzoo_categorical_properties();

// Reads every model folder of dir (sorted by name -> member ids 0, 1, ...). Each checkpoint's
// state_dict is mapped onto `architecture` (for inputs of per-sample shape input_shape) by key
// when its keys are those of the equivalent torch.nn.Sequential, otherwise by the order of its
// tensors (the public zoos name them module_list.<i>.weight); shapes are always checked.
// Properties per kept epoch: test_acc, train_acc, ggap = train_acc - test_acc, test_loss,
// train_loss, epoch (from result.json's line with training_iteration == epoch; NaN when an
// epoch has no line, e.g. epoch 0), lr, weight_decay (optim::wd), l2 = weight_decay/2, dropout, seed
// (params.json, or when it is missing the 'config' object of result.json's lines); categorical:
// activation (model::nlin), init (model::init_type), optimizer (optim::optimizer). Files in dir
// are ignored; a folder that is not a model folder, or any bad file, is a DataError naming it.
ImportedZoo import_modelzoo(const std::string& dir, const std::vector<std::string>& architecture,
                            const std::vector<int64_t>& input_shape);

}  // namespace hyperrep::interop
